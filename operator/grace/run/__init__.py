"""Running one Playbook against one target: whitelist, safe-hold, actions, verification, state machine.

Layers (each module imports only the ones above it):
  snapshot, gitops, verify           pure: decide from values
  actions (one module per action)    the catalog: typed arguments and intents, their checks,
                                     prepare/execute/describe/hold/undo over a Workload
  params                             pure: the whitelist, each step checked by its action
  effects                            pure: what the machine asks for, and the answers
  machine                            pure: Mission status + facts -> next status + one effect
  workload, actions.executor         I/O: the only code here that talks to the cluster
"""

from __future__ import annotations
