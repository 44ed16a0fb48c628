from django.apps import AppConfig


class RunwrightConfig(AppConfig):
    name = "runwright.integrations.django"
    label = "runwright"
    verbose_name = "runwright executions"
    default_auto_field = "django.db.models.BigAutoField"
