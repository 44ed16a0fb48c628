from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('runwright', '0002_execution_task_id'),
    ]

    operations = [
        migrations.AddField(
            model_name='execution',
            name='sealed_spec',
            field=models.TextField(blank=True, default='', editable=False),
        ),
    ]
