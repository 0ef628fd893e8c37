package grace_test

import data.grace

test_auto_approve_matrix if {
	decide({"playbook": {"risk": "low"}, "healthNode": {"criticality": "critical"}}).result == "allow"
	decide({"playbook": {"risk": "medium"}, "healthNode": {"criticality": "high"}}).result == "allow"
	decide({"playbook": {"risk": "high"}, "healthNode": {"criticality": "medium"}}).result == "allow"
	decide({"healthNode": {"criticality": "critical"}}).reasons == ["medium risk on a critical-criticality service needs a human"]
	decide({"playbook": {"risk": "high"}}).reasons == ["high risk on a high-criticality service needs a human"]
}

test_critical_risk_is_never_automatic if {
	d := decide({"playbook": {"risk": "critical"}, "healthNode": {"criticality": "low"}, "learning": {"confidence": 1}})
	d.result == "require_approval"
	d.tier == "approval"
	d.reasons == ["critical risk is never auto-approved"]
}

test_confidence_must_be_above_0_8 if {
	decide({"learning": {"confidence": 0.8}}).reasons == ["learning confidence 0.8 is not above 0.8"]
	decide({"learning": {"confidence": 0.8001}}).result == "allow"
}

test_no_confidence_asks if {
	decide({"learning": {"confidence": null}}).reasons == ["no learning confidence yet for playbook scale-out on checkout: a human decides until outcomes are known"]
	d := grace.decision with input as object.remove(base_input, ["learning"])
	d.result == "require_approval"
}

test_propose_mode_asks if {
	decide({"mode": "propose"}).reasons == ["mode propose: every Mission asks a human first"]
}

test_gitops_owned_target_asks if {
	decide({"target": {"gitOpsOwner": "flux"}}).reasons == ["target Deployment/checkout is managed by flux: a live change is drift from Git"]
}

test_gitops_owner_missing_counts_as_owned if {
	d := grace.decision with input as json.remove(base_input, ["target/gitOpsOwner"])
	d.reasons == ["target Deployment/checkout is managed by unknown: a live change is drift from Git"]
}

test_playbook_may_opt_out_of_gitops_approval if {
	decide({"target": {"gitOpsOwner": "argo-rollouts"}, "playbook": {"requireApprovalForGitOps": false}}).result == "allow"
}

test_manual_mission_on_unknown_health_asks if {
	d := decide({"healthNode": {"phase": "Unknown"}, "mission": {"trigger": "manual"}})
	d.result == "require_approval"
	d.reasons == ["HealthNode checkout is Unknown (its metrics are missing): a human must confirm acting blind"]
}

test_unsure_root_cause_asks if {
	d := decide({"healthNode": {"rootCause": {"cause": "payments-db", "confidence": 0.7, "selfConfidence": 0.3}}})
	d.result == "require_approval"
	d.reasons == ["root cause: checkout is the cause of its own trouble with confidence 0.3 only (likeliest cause: payments-db), below 0.5: a human confirms"]
}

test_sure_or_absent_root_cause_asks_nothing if {
	decide({"healthNode": {"rootCause": {"cause": "checkout", "confidence": 0.5, "selfConfidence": 0.5}}}).result == "allow"
	decide({"healthNode": {"rootCause": null}}).result == "allow"
}
