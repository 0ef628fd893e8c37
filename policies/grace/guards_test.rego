package grace_test

import data.grace

test_missing_policy_data_denies if {
	d := grace.decision with input as base_input with data.grace.config as {}
	d.result == "deny"
	d.tier == "none"
	"policy data has no maxConcurrentCluster: nothing runs until the policy configuration is fixed" in d.reasons
	count(d.reasons) == 5
}

test_missing_input_field_denies if {
	d := grace.decision with input as object.remove(base_input, ["counts"])
	d.result == "deny"
	"input has no counts.activeInCluster: the policy cannot decide" in d.reasons
}

test_unknown_mode_denies if {
	d := decide({"mode": "yolo"})
	d.result == "deny"
	"unknown mode yolo: expected observe, propose or autonomous" in d.reasons
}

test_unknown_risk_denies if {
	d := decide({"playbook": {"risk": "extreme"}})
	d.result == "deny"
	"unknown risk extreme on playbook scale-out" in d.reasons
}

test_unknown_criticality_denies if {
	d := decide({"healthNode": {"criticality": "vital"}})
	d.result == "deny"
	"unknown criticality vital on HealthNode checkout" in d.reasons
}

test_protected_namespace_denies if {
	d := decide({"target": {"namespace": "kube-system"}})
	d.result == "deny"
	d.reasons == ["namespace kube-system is protected: GRACE never acts there"]
}

test_protected_namespaces_come_from_data if {
	d := grace.decision with input as base_input
		with data.grace.config.protectedNamespaces as ["shop"]
	d.reasons == ["namespace shop is protected: GRACE never acts there"]
}

test_unknown_health_denies_automatic_missions if {
	d := decide({"healthNode": {"phase": "Unknown"}})
	d.result == "deny"
	d.reasons == ["HealthNode checkout is Unknown (its metrics are missing): GRACE never acts on Unknown"]
}

test_namespace_concurrency_limit_denies if {
	d := decide({"counts": {"activeInNamespace": 1}})
	d.result == "deny"
	d.reasons == ["blast radius: namespace shop already has 1 active Missions, the limit is 1"]
}

test_cluster_concurrency_limit_denies if {
	d := decide({"counts": {"activeInCluster": 5}})
	d.reasons == ["blast radius: the cluster already has 5 active Missions, the limit is 5"]
}

test_cluster_below_limit_runs if {
	decide({"counts": {"activeInCluster": 4}}).result == "allow"
}

test_hourly_budget_denies if {
	d := decide({"counts": {"recentInNamespace": 6}})
	d.reasons == ["budget: namespace shop started 6 Missions in the last hour, the limit is 6 per hour"]
}

test_limits_come_from_data if {
	d := grace.decision with input as object.union(base_input, {"counts": {"activeInNamespace": 2}})
		with data.grace.config.maxConcurrentPerNamespace as 3
	d.result == "allow"
}

test_duplicate_denies if {
	d := decide({"facts": {"duplicateOf": "checkout-scale-out-0"}})
	d.reasons == ["duplicate: Mission checkout-scale-out-0 is already running playbook scale-out on checkout"]
}

test_empty_duplicate_is_no_duplicate if {
	decide({"facts": {"duplicateOf": ""}}).result == "allow"
}

test_cooldown_denies_with_whole_seconds if {
	d := decide({"facts": {"cooldownRemainingSeconds": 12.2}})
	d.reasons == ["cooldown: playbook scale-out ran on checkout recently; the next run is allowed in 13s"]
}
