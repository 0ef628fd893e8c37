"""Which playbook, when: candidates for a distressed HealthNode, cooldown and dedup facts, a choice."""
