package grace_test

import data.grace

at(now) := decide({"now": now})

outside(now) := [concat("", ["outside every change window at ", now, ": medium risk needs approval"])]

test_window_start_is_inclusive if {
	at("2025-01-06T09:00:00Z").result == "allow"
	at("2025-01-06T08:59:59Z").reasons == outside("2025-01-06T08:59:59Z")
	at("2025-01-06T08:59:59.999+00:00").result == "require_approval"
}

test_window_end_is_exclusive if {
	at("2025-01-06T16:59:59Z").result == "allow"
	at("2025-01-06T17:00:00Z").reasons == outside("2025-01-06T17:00:00Z")
	at("2025-01-06T17:00:01Z").reasons == outside("2025-01-06T17:00:01Z")
}

test_window_days if {
	at("2025-01-10T12:00:00Z").result == "allow"
	at("2025-01-11T12:00:00Z").result == "require_approval"
}

test_offsets_are_converted if {
	at("2025-01-06T11:30:00+02:00").result == "allow"
	at("2025-01-06T10:30:00+02:00").result == "require_approval"
}

test_low_risk_ignores_windows if {
	decide({"now": "2025-01-11T03:00:00Z", "playbook": {"risk": "low"}}).result == "allow"
}

test_no_windows_means_no_restriction if {
	d := grace.decision with input as object.union(base_input, {"now": "2025-01-11T03:00:00Z"})
		with data.grace.config.changeWindows as []
	d.result == "allow"
}

test_mission_windows_replace_configured if {
	saturday := [{"days": ["Sat"], "start": "02:00", "end": "04:00"}]
	decide({"now": "2025-01-11T03:00:00Z", "changeWindows": saturday}).result == "allow"
	decide({"now": "2025-01-06T10:00:00Z", "changeWindows": saturday}).result == "require_approval"
}

overnight := [{"days": ["Fri"], "start": "22:00", "end": "02:00", "timezone": "UTC"}]

night(now) := decide({"now": now, "changeWindows": overnight}).result

test_overnight_window if {
	night("2025-01-10T21:59:59Z") == "require_approval"
	night("2025-01-10T22:00:00Z") == "allow"
	night("2025-01-11T01:59:59Z") == "allow"
	night("2025-01-11T02:00:00Z") == "require_approval"
	night("2025-01-10T01:00:00Z") == "require_approval"
	decide({"now": "2025-01-06T00:30:00Z", "changeWindows": [{"days": ["Sun"], "start": "23:00", "end": "01:00"}]}).result == "allow"
}

paris := [{"days": ["Mon"], "start": "09:00", "end": "17:00", "timezone": "Europe/Paris"}]

test_window_time_zone if {
	decide({"now": "2025-01-06T08:00:00Z", "changeWindows": paris}).result == "allow"
	decide({"now": "2025-01-06T07:59:59Z", "changeWindows": paris}).result == "require_approval"
	decide({"now": "2025-01-06T16:00:00Z", "changeWindows": paris}).result == "require_approval"
}

test_whole_day_until_24_00 if {
	decide({"now": "2025-01-12T23:59:59Z", "changeWindows": [{"days": ["Sun"], "start": "00:00", "end": "24:00"}]}).result == "allow"
}

test_malformed_window_never_opens if {
	decide({"changeWindows": [{"days": ["Mon"], "start": "9:00", "end": "17:00"}]}).result == "require_approval"
}

test_unparseable_now_denies if {
	d := at("yesterday")
	d.result == "deny"
	"now yesterday is not an RFC 3339 time: the policy cannot check change windows" in d.reasons
}
