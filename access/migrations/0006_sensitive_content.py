"""Sensitive content by what it is, not only by who holds it: the code sets and labels that mark
an item sensitive, and which roles see which sensitivity (docs/access.md has the table).

Each code set is a handful of real codes from a named, dated published list; matching is exact
for SNOMED CT (no descendants: there is no terminology server here) and by category for ICD-10
(B20 covers B20.0 to B20.9). A change to these lists is a new migration, so it is reviewed.
"""

import django.db.models.deletion
from django.db import migrations, models

SNOMED = "http://snomed.info/sct"
ICD10 = "http://hl7.org/fhir/sid/icd-10"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
ACT_CODE_STU3 = "http://hl7.org/fhir/v3/ActCode"

# NHS Digital's GP summary exclusion subsets (the Royal College of GPs' sensitive data set, the
# lists GP systems use to keep these items out of the Summary Care Record): DD4C, status date
# 2018-04-01, metadata last updated 2018-06-01.
GP_SUMMARY_EXCLUSION = "NHS Digital, GP summary exclusion subsets (RCGP sensitive data set; ISB 1572)"
GP_SUMMARY_EXCLUSION_URL = "https://dd4c.digital.nhs.uk/dd4c/publishedmetadatas/intid/668"
ICD10_SOURCE = "WHO ICD-10 (2019), as used by NHS England for legally restricted codes (ISB 1572)"
ICD10_URL = "https://icd.who.int/browse10/2019/en"
HL7_SOURCE = "HL7 v3 ActCode, InformationSensitivityPolicy (meta.security labels)"
HL7_URL = "https://terminology.hl7.org/CodeSystem-v3-ActCode.html"

# (name, sensitivity, source, url, as of, [(system, code, display)])
CODE_SETS = [
    (
        "Sexually transmitted infections and HIV (SNOMED CT)", "sexual_health",
        GP_SUMMARY_EXCLUSION, GP_SUMMARY_EXCLUSION_URL, "2018-06-01",
        [
            (SNOMED, "86406008", "Human immunodeficiency virus infection"),
            (SNOMED, "165816005", "Human immunodeficiency virus positive"),
            (SNOMED, "699433000", "Human immunodeficiency virus carrier"),
            (SNOMED, "420721002", "AIDS-associated disorder"),
            (SNOMED, "15628003", "Gonorrhoea"),
            (SNOMED, "76272004", "Syphilis"),
            (SNOMED, "105629000", "Chlamydial infection"),
        ],
    ),
    (
        "Sexually transmitted infections and HIV (ICD-10)", "sexual_health",
        ICD10_SOURCE, ICD10_URL, "2019-01-01",
        [
            (ICD10, "B20", "HIV disease resulting in infectious and parasitic diseases"),
            (ICD10, "B21", "HIV disease resulting in malignant neoplasms"),
            (ICD10, "B22", "HIV disease resulting in other specified diseases"),
            (ICD10, "B23", "HIV disease resulting in other conditions"),
            (ICD10, "B24", "Unspecified human immunodeficiency virus [HIV] disease"),
            (ICD10, "Z21", "Asymptomatic human immunodeficiency virus [HIV] infection status"),
            (ICD10, "A53", "Other and unspecified syphilis"),
            (ICD10, "A54", "Gonococcal infection"),
            (ICD10, "A56", "Other sexually transmitted chlamydial diseases"),
            (ICD10, "A64", "Unspecified sexually transmitted disease"),
        ],
    ),
    (
        "Termination of pregnancy (SNOMED CT)", "termination",
        GP_SUMMARY_EXCLUSION, GP_SUMMARY_EXCLUSION_URL, "2018-06-01",
        [
            (SNOMED, "57797005", "Termination of pregnancy"),
            (SNOMED, "274973002", "Dilation of cervix uteri and curettage for termination of pregnancy"),
            (SNOMED, "288045002", "Termination of pregnancy by amniotic injection"),
            (SNOMED, "18302006", "Therapeutic abortion by hysterotomy"),
        ],
    ),
    (
        "Termination of pregnancy (ICD-10)", "termination", ICD10_SOURCE, ICD10_URL, "2019-01-01",
        [
            (ICD10, "O04", "Medical abortion"),
            (ICD10, "O05", "Other abortion"),
            (ICD10, "O06", "Unspecified abortion"),
        ],
    ),
    (
        "Assisted conception and IVF (SNOMED CT)", "assisted_conception",
        GP_SUMMARY_EXCLUSION, GP_SUMMARY_EXCLUSION_URL, "2018-06-01",
        [
            (SNOMED, "52637005", "In vitro fertilisation"),
            (SNOMED, "58533008", "Artificial insemination"),
            (SNOMED, "10231000132102", "In-vitro fertilisation pregnancy"),
        ],
    ),
    (
        "Assisted conception and IVF (ICD-10)", "assisted_conception",
        ICD10_SOURCE, ICD10_URL, "2019-01-01",
        [
            (ICD10, "Z31.1", "Artificial insemination"),
            (ICD10, "Z31.2", "In vitro fertilization"),
            (ICD10, "Z31.3", "Other assisted fertilization methods"),
        ],
    ),
    (
        "Gender reassignment (SNOMED CT)", "gender_identity",
        GP_SUMMARY_EXCLUSION, GP_SUMMARY_EXCLUSION_URL, "2018-06-01",
        [
            (SNOMED, "93461009", "Gender dysphoria"),
            (SNOMED, "407374003", "Transsexual"),
            (SNOMED, "407376001", "Male-to-female transsexual"),
            (SNOMED, "407377005", "Female-to-male transsexual"),
        ],
    ),
    (
        "Gender reassignment (ICD-10)", "gender_identity", ICD10_SOURCE, ICD10_URL, "2019-01-01",
        [
            (ICD10, "F64.0", "Transsexualism"),
            (ICD10, "F64.9", "Gender identity disorder, unspecified"),
        ],
    ),
    (
        "Safeguarding flags (SNOMED CT)", "safeguarding",
        "NHS England, Child Protection Information Sharing (CP-IS) flag codes; Yorkshire and "
        "Humber Care Record (Interweave) flag types",
        "https://fhir.nhs.uk/England/ValueSet/CPIS-FlagCode", "2024-02-14",
        [
            (SNOMED, "224353004", "Child protection plan flag (CP-IS)"),
            (SNOMED, "514331000000104", "Adult safeguarding referral"),
            (SNOMED, "417430008", "Vulnerable adult"),
            (SNOMED, "919461000000108", "At risk of sexual exploitation"),
        ],
    ),
    (
        "Maltreatment (ICD-10)", "safeguarding", ICD10_SOURCE, ICD10_URL, "2019-01-01",
        [
            (ICD10, "T74", "Maltreatment syndromes"),
        ],
    ),
]
# The HL7 sensitivity labels a source may put in a resource's meta.security, in R4's system and
# STU3's (GP Connect), each to the sensitivity it means here.
LABELS = [
    ("HIV", "HIV/AIDS information sensitivity", "sexual_health"),
    ("STD", "sexually transmitted disease information sensitivity", "sexual_health"),
    ("SEX", "sexuality and reproductive health information sensitivity", "sexual_health"),
    ("SDV", "sexual assault, abuse, or domestic violence information sensitivity", "safeguarding"),
    ("PSY", "psychiatry disorder information sensitivity", "mental_health"),
    ("ETH", "substance abuse information sensitivity", "substance_misuse"),
]
LABEL_SETS = {
    "sexual_health": "HL7 sensitivity labels: sexual health and HIV",
    "safeguarding": "HL7 sensitivity labels: abuse and domestic violence",
    "mental_health": "HL7 sensitivity labels: mental health",
    "substance_misuse": "HL7 sensitivity labels: substance misuse",
}

EVERYTHING = [
    "sexual_health", "termination", "assisted_conception", "gender_identity", "safeguarding",
    "substance_misuse", "restricted",
]
# role: (sensitivities through a relationship, and besides under emergency access). Mental health
# content follows sees_sensitive_sources (migration 0002), not these lists.
POLICIES = {
    "gp": (EVERYTHING, []),
    "practice_nurse": (["safeguarding"], []),
    "ae_clinician": (
        ["safeguarding", "substance_misuse"],
        ["sexual_health", "termination", "assisted_conception", "gender_identity", "restricted"],
    ),
    "community_nurse": (["safeguarding"], []),
    "mental_health_clinician": (["safeguarding", "substance_misuse"], []),
    "social_worker": (["safeguarding"], []),
    "administrator": ([], []),
    "privacy_officer": ([], []),
}


def seed(apps, schema_editor):
    CodeSet = apps.get_model("access", "SensitiveCodeSet")
    Code = apps.get_model("access", "SensitiveCode")
    RolePolicy = apps.get_model("access", "RolePolicy")
    sets = list(CODE_SETS)
    for sensitivity, name in LABEL_SETS.items():
        codes = [
            (system, code, display)
            for code, display, meaning in LABELS
            if meaning == sensitivity
            for system in (ACT_CODE, ACT_CODE_STU3)
        ]
        sets.append((name, sensitivity, HL7_SOURCE, HL7_URL, "2024-04-01", codes))
    for name, sensitivity, source, url, as_of, codes in sets:
        code_set = CodeSet.objects.create(
            name=name, sensitivity=sensitivity, source=source, source_url=url, as_of=as_of
        )
        Code.objects.bulk_create(
            Code(code_set=code_set, system=system, code=code, display=display)
            for system, code, display in codes
        )
    for role, (usual, emergency) in POLICIES.items():
        RolePolicy.objects.filter(role=role).update(
            sensitivities=usual, sensitivities_in_emergency=emergency
        )


class Migration(migrations.Migration):

    dependencies = [
        ('access', '0005_role_policy_joined_by_role'),
    ]

    operations = [
        migrations.CreateModel(
            name='SensitiveCodeSet',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('name', models.CharField(max_length=200, unique=True)),
                ('sensitivity', models.CharField(choices=[('sexual_health', 'Sexual health and HIV'), ('termination', 'Termination of pregnancy'), ('assisted_conception', 'Assisted conception'), ('gender_identity', 'Gender reassignment'), ('safeguarding', 'Safeguarding'), ('mental_health', 'Mental health'), ('substance_misuse', 'Substance misuse'), ('restricted', 'Labelled restricted by its source')], max_length=30)),
                ('source', models.CharField(help_text='Who publishes the list we follow.', max_length=300)),
                ('source_url', models.CharField(blank=True, max_length=300, verbose_name='where it is published')),
                ('as_of', models.DateField(help_text='The date of the published list we took the codes from.')),
            ],
            options={
                'ordering': ['sensitivity', 'name'],
            },
        ),
        migrations.AddField(
            model_name='rolepolicy',
            name='sensitivities',
            field=models.JSONField(blank=True, default=list, help_text='Sensitive content (access.models.Sensitivity) this role sees through a care relationship.'),
        ),
        migrations.AddField(
            model_name='rolepolicy',
            name='sensitivities_in_emergency',
            field=models.JSONField(blank=True, default=list, help_text='Sensitive content this role sees, besides, under emergency access (shown with a warning).'),
        ),
        migrations.CreateModel(
            name='SensitiveCode',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('system', models.CharField(max_length=200)),
                ('code', models.CharField(max_length=64)),
                ('display', models.CharField(max_length=300)),
                ('code_set', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='codes', to='access.sensitivecodeset')),
            ],
            options={
                'ordering': ['code_set', 'system', 'code'],
                'constraints': [models.UniqueConstraint(fields=('code_set', 'system', 'code'), name='sensitive_code_unique')],
            },
        ),
        migrations.RunPython(seed, migrations.RunPython.noop),
    ]
