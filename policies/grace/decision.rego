# METADATA
# title: GRACE governance decision
# description: >-
#   One answer per Mission from one input document: allow, require_approval or deny, the
#   autonomy tier it runs at, and every reason that fired. Precedence is
#   deny > require_approval > allow. Rules add reasons to guard_reasons (deny) or
#   approval_reasons (a human decides); this file only combines them.
package grace

# The document the operator queries: data.grace.decision.
decision := {
	"result": "allow",
	"tier": "observe",
	"reasons": shadow_reasons,
} if {
	dry_run
} else := {
	"result": result,
	"tier": tiers[result],
	"reasons": reasons,
}

# What each result lets GRACE do: run alone, run after a human says yes, or nothing.
tiers := {"allow": "auto", "require_approval": "approval", "deny": "none"}

# Learning must be strictly more confident than this before anything runs without a human.
auto_approve_confidence := 0.8

dry_run if input.mission.dryRun == true

manual if input.mission.trigger == "manual"

# Deny when any guard fired or the mode forbids acting at all.
deny_reasons := guard_reasons | mode_reasons

mode_reasons contains "mode observe: GRACE only records dry-run Missions and never acts" if {
	input.mode == "observe"
}

result := "deny" if {
	count(deny_reasons) > 0
} else := "require_approval" if {
	count(approval_reasons) > 0
} else := "allow"

# Sorted so that both engines, and every run, give the same list. (The comprehensions are
# not redundant: rego-cpp 1.5 cannot array.concat the output of sort directly.)
reasons := array.concat(
	[r | some r in sort(deny_reasons)],
	[r | some r in sort(approval_reasons)],
) if {
	count(deny_reasons) + count(approval_reasons) > 0
} else := [allow_reason]

allow_reason := sprintf(
	"%s risk on a %s-criticality service, learning confidence %v above %v, every guard passed: runs without a human",
	[input.playbook.risk, input.healthNode.criticality, confidence, auto_approve_confidence],
)

# A dry run changes nothing, so it is always allowed; its reasons say what a real run would get
# (the observe-mode rule aside, since that mode is exactly what asks for the shadow run).
shadow_reasons := array.concat(
	["dry run: GRACE records what it would do and changes nothing"],
	would_reasons,
)

would_reasons := array.concat(
	[sprintf("would be denied: %s", [r]) | some r in sort(guard_reasons)],
	[sprintf("would need approval: %s", [r]) | some r in sort(approval_reasons)],
) if {
	count(guard_reasons) + count(approval_reasons) > 0
} else := [sprintf("would run without a human: %s", [allow_reason])]
