# tessera-{{dash}}

{{title}}: a Tessera plugin written by `tessera plugins new {{name}}`.

- `{{name}}/manifest.py`: who the plugin is and which core it works with;
- `{{name}}/hooks.py`: routes, migrations, templates, the permission `{{name}}:items`,
  the navigation entry;
- `{{name}}/models.py` and `{{name}}/migrations/`: the `{{name}}_items` table (its own
  Alembic branch `{{name}}`, tenant-owned, row-level security forced);
- `{{name}}/routes.py`: the page `/{{dash}}` and the JSON API `/api/{{dash}}/items`;
- `tests/`: the plugin's tests against the real kernel, with `core.testing`.

Run the tests from this folder, with PostgreSQL and Redis reachable:

    export TESSERA_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/tessera
    export TESSERA_REDIS_URL=redis://127.0.0.1:6379/0
    export TESSERA_TEST_DATABASE=tessera_test_{{name}}
    python -m pytest -q

Install it next to Tessera (`pip install -e .`), run `tessera db upgrade`, then
`tessera plugins enable {{name}} --tenant SLUG`.
