# Tests of how decision.rego combines the rules; base_input and decide() serve every test file.
package grace_test

import data.grace

# Monday 10:00 UTC, inside the default Mon-Fri 09:00-17:00 window, autonomous, medium risk on a
# high-criticality service, confident learning: auto-approved.
base_input := {
	"mission": {
		"name": "checkout-scale-out-1",
		"namespace": "shop",
		"playbook": "scale-out",
		"healthNode": "checkout",
		"parameters": {"replicas": 5},
		"trigger": "automatic",
		"dryRun": false,
	},
	"playbook": {
		"name": "scale-out",
		"risk": "medium",
		"requireApprovalForGitOps": true,
		"parameters": [
			{"name": "replicas", "type": "integer", "minimum": 1, "maximum": 20},
			{"name": "strategy", "type": "string", "enum": ["rolling", "recreate"]},
			{"name": "surge", "type": "number", "minimum": 0, "maximum": 2.5},
			{"name": "drain", "type": "boolean"},
			{"name": "note"},
		],
	},
	"healthNode": {"name": "checkout", "namespace": "shop", "criticality": "high", "phase": "Critical"},
	"target": {"kind": "Deployment", "name": "checkout", "namespace": "shop", "gitOpsOwner": "none"},
	"mode": "autonomous",
	"now": "2025-01-06T10:00:00Z",
	"changeWindows": null,
	"counts": {"activeInNamespace": 0, "activeInCluster": 0, "recentInNamespace": 0},
	"learning": {"confidence": 0.93},
	"facts": {"duplicateOf": null, "cooldownRemainingSeconds": 0},
}

# The decision for base_input with `patch` merged over it (objects merge, the rest replaces).
decide(patch) := d if {
	d := grace.decision with input as object.union(base_input, patch)
}

allow_text := "medium risk on a high-criticality service, learning confidence 0.93 above 0.8, every guard passed: runs without a human"

test_base_input_runs_without_a_human if {
	decide({}) == {"result": "allow", "tier": "auto", "reasons": [allow_text]}
}

test_deny_wins_over_approval_and_keeps_every_reason if {
	d := decide({"mode": "propose", "facts": {"cooldownRemainingSeconds": 30}})
	d.result == "deny"
	d.tier == "none"
	d.reasons == [
		"cooldown: playbook scale-out ran on checkout recently; the next run is allowed in 30s",
		"mode propose: every Mission asks a human first",
	]
}

test_approval_reasons_are_sorted if {
	d := decide({"mode": "propose", "target": {"gitOpsOwner": "argocd"}})
	d.result == "require_approval"
	d.tier == "approval"
	d.reasons == [
		"mode propose: every Mission asks a human first",
		"target Deployment/checkout is managed by argocd: a live change is drift from Git",
	]
}

test_observe_mode_denies_a_real_run if {
	d := decide({"mode": "observe"})
	d.result == "deny"
	d.reasons == ["mode observe: GRACE only records dry-run Missions and never acts"]
}

test_observe_mode_dry_run_records_what_would_happen if {
	d := decide({"mode": "observe", "mission": {"dryRun": true}})
	d == {
		"result": "allow",
		"tier": "observe",
		"reasons": [
			"dry run: GRACE records what it would do and changes nothing",
			concat("", ["would run without a human: ", allow_text]),
		],
	}
}

test_dry_run_lists_would_be_denials_then_approvals if {
	d := decide({
		"mode": "observe",
		"mission": {"dryRun": true, "parameters": {"replicas": 50}},
		"learning": {"confidence": 0.5},
	})
	d.result == "allow"
	d.tier == "observe"
	d.reasons == [
		"dry run: GRACE records what it would do and changes nothing",
		"would be denied: parameter replicas=50 is above its maximum 20",
		"would need approval: learning confidence 0.5 is not above 0.8",
	]
}
