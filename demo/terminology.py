"""Clinical terminology the simulated records are coded in: SNOMED CT, dm+d and LOINC concepts.

Fixed tables of real codes and displays, with the facts about each that demo.clinical draws on.
"""

from __future__ import annotations

from typing import Any

from demo.fhir_resources import DMD, SNOMED, concept

# key: (SNOMED code, display, minimum age, chance, hospital specialty)
CHRONIC_CONDITIONS = {
    "hypertension": ("38341003", "Hypertensive disorder", 40, 0.30, "Cardiology"),
    "diabetes": ("44054006", "Type 2 diabetes mellitus", 35, 0.12, "Diabetes and endocrinology"),
    "asthma": ("195967001", "Asthma", 3, 0.09, "Respiratory medicine"),
    "copd": ("13645005", "Chronic obstructive lung disease", 50, 0.07, "Respiratory medicine"),
    "af": ("49436004", "Atrial fibrillation", 60, 0.08, "Cardiology"),
    "heart_failure": ("84114007", "Heart failure", 65, 0.05, "Cardiology"),
    "ckd": ("709044004", "Chronic kidney disease", 60, 0.08, "Renal medicine"),
    "dementia": ("52448006", "Dementia", 70, 0.08, "Memory service"),
    "osteoarthritis": ("396275006", "Osteoarthritis", 55, 0.15, "Rheumatology"),
    "depression": ("35489007", "Depressive disorder", 16, 0.08, "Psychiatry"),
    "anxiety": ("197480006", "Anxiety disorder", 16, 0.06, "Psychiatry"),
    "schizophrenia": ("58214004", "Schizophrenia", 18, 0.0, "Psychiatry"),
    "bipolar": ("13746004", "Bipolar disorder", 18, 0.0, "Psychiatry"),
}
MENTAL_HEALTH_CONDITIONS = ("depression", "anxiety", "schizophrenia", "bipolar")
# Reasons people come to A&E, and whether they are usually admitted.
PRESENTATIONS = {
    "mi": ("22298006", "Myocardial infarction", True),
    "stroke": ("230690007", "Cerebrovascular accident", True),
    "pneumonia": ("233604007", "Pneumonia", True),
    "uti": ("68566005", "Urinary tract infectious disease", False),
    "cellulitis": ("128045006", "Cellulitis", False),
    "chest_pain": ("29857009", "Chest pain", False),
}
# dm+d virtual medicinal products: (code, name, dosage instruction)
MEDICINES = {
    "paracetamol": ("322236009", "Paracetamol 500mg tablets",
                    "Two tablets up to four times a day when required"),
    "aspirin": ("319773006", "Aspirin 75mg dispersible tablets", "One tablet once a day"),
    "amoxicillin": ("323509004", "Amoxicillin 250mg capsules",
                    "One capsule three times a day for 5 days"),
    "salbutamol": ("39113611000001102", "Salbutamol 100micrograms/dose inhaler CFC free",
                   "Two puffs up to four times a day when required"),
    "metformin": ("325278007", "Metformin 500mg tablets", "One tablet twice a day with meals"),
    "amlodipine": ("319283006", "Amlodipine 5mg tablets", "One tablet once a day"),
    "ramipril": ("318906001", "Ramipril 10mg capsules", "One capsule once a day"),
    "simvastatin": ("320000009", "Simvastatin 40mg tablets", "One tablet at night"),
}  # fmt: skip
# Condition or presentation: the MEDICINES it is usually treated with.
TREATMENTS = {
    "hypertension": ("amlodipine",),
    "diabetes": ("metformin", "simvastatin"),
    "asthma": ("salbutamol",),
    "copd": ("salbutamol",),
    "heart_failure": ("ramipril",),
    "ckd": ("ramipril",),
    "osteoarthritis": ("paracetamol",),
    "mi": ("aspirin", "simvastatin"),
    "stroke": ("aspirin", "simvastatin"),
}
# (SNOMED substance, display, category, criticality, possible reactions)
ALLERGENS = (
    ("764146007", "Penicillin", "medication", "high", ("rash", "hives", "anaphylaxis")),
    ("387207008", "Ibuprofen", "medication", "low", ("rash", "dyspnoea", "nausea")),
    ("387494007", "Codeine", "medication", "low", ("nausea", "vomiting", "itching")),
    ("387458008", "Aspirin", "medication", "low", ("hives", "dyspnoea")),
    ("256349002", "Peanut - dietary", "food", "high", ("anaphylaxis", "hives")),
    ("111088007", "Latex", "environment", "low", ("rash", "itching")),
)
# Reaction: (SNOMED clinical finding, display)
REACTIONS = {
    "rash": ("271807003", "Eruption of skin"),
    "hives": ("247472004", "Weal"),
    "anaphylaxis": ("39579001", "Anaphylaxis"),
    "nausea": ("422587007", "Nausea"),
    "vomiting": ("422400008", "Vomiting"),
    "itching": ("418290006", "Itching"),
    "dyspnoea": ("267036007", "Dyspnea"),
}
# key: (SNOMED vaccine product, display, text)
VACCINES = {
    "flu": ("836377006", "Influenza virus antigen-containing vaccine product", "Flu vaccine"),
    "pneumococcal": (
        "836398006", "Streptococcus pneumoniae antigen-containing vaccine product",
        "Pneumococcal vaccine",
    ),
    "covid": ("1119349007", "SARS-CoV-2 mRNA vaccine", "COVID-19 vaccine"),
}  # fmt: skip
# key: (LOINC, display, text, UCUM unit, reference range)
LAB_TESTS = {
    "hba1c": ("4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood", "HbA1c", "%", (4.0, 6.0)),
    "creatinine": ("14682-9", "Creatinine [Moles/volume] in Serum or Plasma", "Creatinine",
                   "umol/L", (45, 110)),
    "sodium": ("2951-2", "Sodium [Moles/volume] in Serum or Plasma", "Sodium",
               "mmol/L", (133, 146)),
    "potassium": ("2823-3", "Potassium [Moles/volume] in Serum or Plasma", "Potassium",
                  "mmol/L", (3.5, 5.3)),
    "haemoglobin": ("718-7", "Hemoglobin [Mass/volume] in Blood", "Haemoglobin",
                    "g/L", (115, 180)),
    "white_cells": ("6690-2", "Leukocytes [#/volume] in Blood by Automated count",
                    "White cell count", "10*9/L", (4.0, 11.0)),
    "platelets": ("777-3", "Platelets [#/volume] in Blood by Automated count", "Platelets",
                  "10*9/L", (150, 400)),
}  # fmt: skip
# key: (LOINC panel, display, text), reported over the LAB_TESTS it groups
LAB_PANELS = {
    "fbc": ("58410-2", "CBC panel - Blood by Automated count", "Full blood count"),
    "ue": ("24362-6", "Renal function 2000 panel - Serum or Plasma", "Urea and electrolytes"),
    "hba1c": ("4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood", "HbA1c"),
}


def condition_concept(key: str) -> dict[str, Any]:
    code, display, *_ = CHRONIC_CONDITIONS.get(key) or PRESENTATIONS[key]
    return concept(SNOMED, code, display)


def medicine_concept(key: str) -> dict[str, Any]:
    code, name, _ = MEDICINES[key]
    return concept(DMD, code, name)
