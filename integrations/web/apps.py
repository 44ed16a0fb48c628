from django.apps import AppConfig


class RunwrightWebConfig(AppConfig):
    name = "runwright.integrations.web"
    label = "runwright_web"
    verbose_name = "runwright web UI"

    def ready(self) -> None:
        from runwright.integrations.web.notifier import install

        install()  # every ExecutionLogger of this process tells browsers what it stores
