from django.db import migrations, models
import django.db.models.deletion


class Migration(migrations.Migration):

    dependencies = [
        ('runwright', '0004_textlogchunk'),
    ]

    operations = [
        migrations.AddField(
            model_name='execution',
            name='handle',
            field=models.JSONField(blank=True, null=True),
        ),
        migrations.CreateModel(
            name='ExecutionEvent',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('seq', models.BigIntegerField()),
                ('kind', models.CharField(max_length=64)),
                ('data', models.JSONField(blank=True, default=dict)),
                ('at', models.DateTimeField()),
                ('execution', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='events', to='runwright.execution')),
            ],
            options={
                'ordering': ['execution', 'seq'],
                'constraints': [models.UniqueConstraint(fields=('execution', 'seq'), name='rw_event_seq_unique')],
            },
        ),
    ]
