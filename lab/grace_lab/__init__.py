"""The GRACE lab: the development and test tooling that does not ship with the operator.

A real local cluster (`localcluster`), the simulated shop (`sim`) and the `grace demo` and
`grace cluster` commands, which `grace` finds through the `grace.commands` entry points this
distribution declares (lab/pyproject.toml). The operator image and wheel hold none of it.
"""

# The lab drives the operator: import `grace` first, so that its embedded policy engine loads
# before anything pulls in scipy (see grace/__init__.py).
import grace  # noqa: F401
