"""Checkpoints signed with Ed25519: each names the key it was signed with (the id of its public
key), and the signature is 64 bytes (128 hex digits). Checkpoints written before keep their HMAC
and an empty key id; adding a column and widening one fire no row trigger (0007)."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('audit', '0008_look_updates'),
    ]

    operations = [
        migrations.AddField(
            model_name='checkpoint',
            name='key_id',
            field=models.CharField(blank=True, default='', help_text="SHA-256 of the signing key's public key (DER), in hex; empty for the HMAC checkpoints written before Ed25519.", max_length=64),
            preserve_default=False,
        ),
        migrations.AlterField(
            model_name='checkpoint',
            name='signature',
            field=models.CharField(help_text='Ed25519, in hex.', max_length=128),
        ),
    ]
