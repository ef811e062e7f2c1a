# The {{title}} plugin for Tessera, packaged as one published on PyPI would be.
[build-system]
requires = ["setuptools>=64", "wheel"]
build-backend = "setuptools.build_meta"

[project]
name = "tessera-{{dash}}"
version = "0.1.0"
description = "{{title}}: a Tessera plugin"
requires-python = ">=3.11"
dependencies = ["{{core_dist}}>=0.1,<1.0"]

[project.optional-dependencies]
test = ["{{core_dist}}[testing]>=0.1,<1.0"]

# Tessera finds plugins through this entry-point group; the value is the module that
# exposes `manifest` and the hook implementations.
[project.entry-points."tessera.plugins"]
{{name}} = "{{name}}"

[tool.setuptools.packages.find]
include = ["{{name}}*"]

[tool.setuptools.package-data]
{{name}} = ["templates/{{name}}/*.html"]

[tool.pytest.ini_options]
testpaths = ["tests"]
pythonpath = ["."]
asyncio_mode = "auto"
asyncio_default_fixture_loop_scope = "function"
