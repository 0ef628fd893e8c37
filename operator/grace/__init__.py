"""GRACE: governed self-healing for Kubernetes."""

# rego-cpp (regopy, the embedded policy engine) must be loaded before scipy (pulled in by
# river): when scipy.stats' C++ extensions load first, regopy later aborts with
# "free(): invalid pointer". Every GRACE process imports this package first, so load it here.
import regopy  # noqa: F401

__version__ = "0.1.0"
