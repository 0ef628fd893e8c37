# Change windows: medium, high and critical risk outside every window need approval.
# A window is {days, start, end, timezone}: start inclusive, end exclusive, to the second; when
# start is after end the window runs overnight into the next day. No windows: no restriction.
package grace

window_risks := {"medium", "high", "critical"}

week := ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]

approval_reasons contains msg if {
	input.playbook.risk in window_risks
	not in_change_window
	msg := sprintf("outside every change window at %v: %s risk needs approval", [input.now, input.playbook.risk])
}

guard_reasons contains msg if {
	is_string(input.now)
	not now_ns
	msg := sprintf("now %v is not an RFC 3339 time: the policy cannot check change windows", [input.now])
}

# Windows in the input (per Mission) replace the configured ones.
windows := w if {
	w := input.changeWindows
	is_array(w)
} else := object.get(cfg, "changeWindows", [])

# "Z" spelled as "+00:00" parses the same in every engine.
now_text := concat("", [trim_suffix(input.now, "Z"), "+00:00"]) if {
	endswith(input.now, "Z")
} else := input.now

now_ns := time.parse_rfc3339_ns(now_text)

in_change_window if count(windows) == 0

in_change_window if {
	some w in windows
	window_open(w, now_ns)
}

window_open(w, ns) if {
	span := window_span(w)
	span[0] < span[1]
	moment := local_moment(ns, object.get(w, "timezone", "UTC"))
	moment.day in w.days
	span[0] <= moment.second
	moment.second < span[1]
}

window_open(w, ns) if {
	span := window_span(w)
	span[0] > span[1]
	moment := local_moment(ns, object.get(w, "timezone", "UTC"))
	moment.day in w.days
	span[0] <= moment.second
}

window_open(w, ns) if {
	span := window_span(w)
	span[0] > span[1]
	moment := local_moment(ns, object.get(w, "timezone", "UTC"))
	previous_day(moment.day) in w.days
	moment.second < span[1]
}

window_span(w) := [clock_seconds(w.start), clock_seconds(w.end)]

# "HH:MM" as seconds since midnight ("24:00" is the end of the day).
clock_seconds(text) := (two_digits(parts[0]) * 3600) + (two_digits(parts[1]) * 60) if {
	regex.match(`^[0-9]{2}:[0-9]{2}$`, text)
	parts := split(text, ":")
}

# "07" as 7. Not to_number("07"): rego-cpp 1.5 keeps the leading zero in the result of
# arithmetic on it ("07" * 3600 is 025200) and then compares it wrongly.
two_digits(text) := to_number(concat("", ["1", text])) - 100

local_moment(ns, tz) := {"day": substring(time.weekday([ns, tz]), 0, 3), "second": ((hms[0] * 3600) + (hms[1] * 60)) + hms[2]} if {
	hms := time.clock([ns, tz])
}

previous_day(day) := week[(i + 6) % 7] if {
	some i, d in week
	d == day
}
