from django.apps import AppConfig


class RunwrightConfig(AppConfig):
    name = "integrations.django"
    label = "runwright"
    verbose_name = "runwright executions"
    default_auto_field = "django.db.models.BigAutoField"
