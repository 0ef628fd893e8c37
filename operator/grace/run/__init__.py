"""Running one Playbook against one target: whitelist, safe-hold, actions, verification, state machine.

Layers (each module imports only the ones above it):
  params, gitops, snapshot, verify   pure: decide from values
  intents                            pure: what a prepared step will do, in words
  effects                            pure: what the machine asks for, and the answers
  machine                            pure: Mission status + facts -> next status + one effect
  workload, actions                  I/O: the only code here that talks to the cluster
"""

from __future__ import annotations
