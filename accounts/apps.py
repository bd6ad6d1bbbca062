from django.apps import AppConfig
from django.db.models.signals import post_migrate


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts, roles and audit"

    def ready(self) -> None:
        from accounts.roles import sync_roles

        # Permissions are created by post_migrate, so the role table is applied
        # after them, on every migrate; dispatch_uid keeps it to one run per app.
        post_migrate.connect(sync_roles, dispatch_uid="accounts.sync_roles")
        from accounts.demo import accounts_demo_load
        from cms.demo import demo_loader_register

        demo_loader_register("accounts", accounts_demo_load)
