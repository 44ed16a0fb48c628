from django.db import migrations


class Migration(migrations.Migration):
    """The permission to cancel an execution."""

    dependencies = [
        ('runwright', '0005_execution_handle_executionevent'),
    ]

    operations = [
        migrations.AlterModelOptions(
            name='execution',
            options={'ordering': ['-id'], 'permissions': [('cancel_execution', 'Can cancel an execution')]},
        ),
    ]
