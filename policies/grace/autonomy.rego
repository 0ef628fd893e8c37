# Autonomy: rules that ask a human. Mode propose, risk x criticality outside the auto-approve
# matrix, learning confidence not above 0.8, GitOps-owned targets, and a manual Mission on an
# Unknown HealthNode.
package grace

# For each playbook risk, the service criticalities at which a run may be auto-approved.
auto_eligible := {
	"low": {"low", "medium", "high", "critical"},
	"medium": {"low", "medium", "high"},
	"high": {"low", "medium"},
	"critical": set(),
}

approval_reasons contains "mode propose: every Mission asks a human first" if {
	input.mode == "propose"
}

approval_reasons contains "critical risk is never auto-approved" if {
	input.playbook.risk == "critical"
}

approval_reasons contains msg if {
	risk := input.playbook.risk
	risk != "critical"
	criticality := input.healthNode.criticality
	not criticality in auto_eligible[risk]
	msg := sprintf("%s risk on a %s-criticality service needs a human", [risk, criticality])
}

confidence := c if {
	c := object.get(input, ["learning", "confidence"], null)
	is_number(c)
}

approval_reasons contains msg if {
	not confidence
	msg := sprintf("no learning confidence yet for playbook %v on %v: a human decides until outcomes are known", [input.playbook.name, input.healthNode.name])
}

approval_reasons contains msg if {
	confidence <= auto_approve_confidence
	msg := sprintf("learning confidence %v is not above %v", [confidence, auto_approve_confidence])
}

gitops_owner := object.get(input, ["target", "gitOpsOwner"], "unknown")

approval_reasons contains msg if {
	gitops_owner != "none"
	object.get(input, ["playbook", "requireApprovalForGitOps"], true) != false
	msg := sprintf("target %v/%v is managed by %v: a live change is drift from Git", [input.target.kind, input.target.name, gitops_owner])
}

approval_reasons contains msg if {
	input.healthNode.phase == "Unknown"
	manual
	msg := sprintf("HealthNode %s is Unknown (its metrics are missing): a human must confirm acting blind", [input.healthNode.name])
}

# Root cause: detection must be sure enough that the Mission's node is the cause of its own
# trouble, not a symptom of another node (a forgotten dependsOn, a dependency still departing
# from its baseline). Missing analysis (no dependsOn graph in the namespace) asks nothing.
root_cause_confidence_floor := 0.5

approval_reasons contains msg if {
	c := object.get(input, ["healthNode", "rootCause", "selfConfidence"], null)
	is_number(c)
	c < root_cause_confidence_floor
	cause := object.get(input, ["healthNode", "rootCause", "cause"], "unknown")
	msg := sprintf("root cause: %v is the cause of its own trouble with confidence %v only (likeliest cause: %v), below %v: a human confirms", [input.healthNode.name, c, cause, root_cause_confidence_floor])
}
