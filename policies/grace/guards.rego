# Guards: rules that deny outright. Malformed input or policy data, protected namespaces,
# the blast-radius budgets, duplicate Missions, cooldown, and acting on an Unknown HealthNode.
package grace

# Policy data comes from data.grace.config (the grace-policy ConfigMap in production).
default cfg := {}

cfg := data.grace.config

required_config := [
	"changeWindows",
	"protectedNamespaces",
	"maxConcurrentPerNamespace",
	"maxConcurrentCluster",
	"maxPerNamespacePerHour",
]

required_input := [
	["mission", "name"],
	["mission", "namespace"],
	["playbook", "name"],
	["playbook", "risk"],
	["healthNode", "name"],
	["healthNode", "criticality"],
	["target", "namespace"],
	["counts", "activeInNamespace"],
	["counts", "activeInCluster"],
	["counts", "recentInNamespace"],
	["mode"],
	["now"],
]

modes := {"observe", "propose", "autonomous"}

levels := {"low", "medium", "high", "critical"}

guard_reasons contains msg if {
	some key in required_config
	not key in object.keys(cfg)
	msg := sprintf("policy data has no %s: nothing runs until the policy configuration is fixed", [key])
}

guard_reasons contains msg if {
	some path in required_input
	object.get(input, path, null) == null
	msg := concat("", ["input has no ", concat(".", path), ": the policy cannot decide"])
}

guard_reasons contains msg if {
	not input.mode in modes
	msg := sprintf("unknown mode %v: expected observe, propose or autonomous", [input.mode])
}

guard_reasons contains msg if {
	not input.playbook.risk in levels
	msg := sprintf("unknown risk %v on playbook %v", [input.playbook.risk, input.playbook.name])
}

guard_reasons contains msg if {
	not input.healthNode.criticality in levels
	msg := sprintf("unknown criticality %v on HealthNode %v", [input.healthNode.criticality, input.healthNode.name])
}

guard_reasons contains msg if {
	some ns in {object.get(input, ["mission", "namespace"], ""), object.get(input, ["target", "namespace"], "")}
	ns in cfg.protectedNamespaces
	msg := sprintf("namespace %s is protected: GRACE never acts there", [ns])
}

guard_reasons contains msg if {
	input.healthNode.phase == "Unknown"
	not manual
	msg := sprintf("HealthNode %s is Unknown (its metrics are missing): GRACE never acts on Unknown", [input.healthNode.name])
}

guard_reasons contains msg if {
	active := input.counts.activeInNamespace
	limit := cfg.maxConcurrentPerNamespace
	active >= limit
	msg := sprintf("blast radius: namespace %s already has %d active Missions, the limit is %d", [input.mission.namespace, active, limit])
}

guard_reasons contains msg if {
	active := input.counts.activeInCluster
	limit := cfg.maxConcurrentCluster
	active >= limit
	msg := sprintf("blast radius: the cluster already has %d active Missions, the limit is %d", [active, limit])
}

guard_reasons contains msg if {
	recent := input.counts.recentInNamespace
	limit := cfg.maxPerNamespacePerHour
	recent >= limit
	msg := sprintf("budget: namespace %s started %d Missions in the last hour, the limit is %d per hour", [input.mission.namespace, recent, limit])
}

guard_reasons contains msg if {
	other := object.get(input, ["facts", "duplicateOf"], null)
	is_string(other)
	other != ""
	msg := sprintf("duplicate: Mission %s is already running playbook %s on %s", [other, input.playbook.name, input.healthNode.name])
}

guard_reasons contains msg if {
	remaining := object.get(input, ["facts", "cooldownRemainingSeconds"], 0)
	remaining > 0
	msg := sprintf("cooldown: playbook %s ran on %s recently; the next run is allowed in %ds", [input.playbook.name, input.healthNode.name, ceil(remaining)])
}
