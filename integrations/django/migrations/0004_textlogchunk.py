from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('runwright', '0003_execution_sealed_spec'),
    ]

    operations = [
        migrations.CreateModel(
            name='TextLogChunk',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('model', models.CharField(max_length=100)),
                ('object_id', models.CharField(max_length=64)),
                ('offset', models.BigIntegerField()),
                ('stream', models.CharField(choices=[('o', 'stdout'), ('e', 'stderr'), ('s', 'system')], max_length=1)),
                ('data', models.BinaryField()),
            ],
            options={
                'ordering': ['model', 'object_id', 'offset'],
                'constraints': [models.UniqueConstraint(fields=('model', 'object_id', 'offset'), name='rw_textchunk_offset_unique')],
            },
        ),
    ]
