"""Charging profile periods stored in the domain's own terms, not OCPP 1.6's.

``ChargingProfile.periods`` held 1.6 ``chargingSchedulePeriod`` objects
(startPeriod, limit, numberPhases); the version adapter now builds those, and
the row keeps start_s, limit and phases.
"""

from django.db import migrations, models

_FORWARD = {"startPeriod": "start_s", "numberPhases": "phases"}
_BACKWARD = {new: old for old, new in _FORWARD.items()}


def _rename_keys(apps, mapping):
    ChargingProfile = apps.get_model("stations", "ChargingProfile")
    for profile in ChargingProfile.objects.exclude(periods=[]).iterator():
        periods = [
            {mapping.get(key, key): value for key, value in period.items()}
            for period in profile.periods or []
        ]
        if periods != profile.periods:
            profile.periods = periods
            profile.save(update_fields=["periods"])


def forward(apps, schema_editor):
    _rename_keys(apps, _FORWARD)


def backward(apps, schema_editor):
    _rename_keys(apps, _BACKWARD)


class Migration(migrations.Migration):
    dependencies = [
        ("stations", "0009_reports_monthly"),
    ]

    operations = [
        migrations.AlterField(
            model_name="chargingprofile",
            name="periods",
            field=models.JSONField(
                default=list,
                help_text='[{"start_s": seconds, "limit": in rate_unit, "phases": n}]',
            ),
        ),
        migrations.RunPython(forward, backward),
    ]
