# Parameter bounds, defence in depth behind the CRD schema: every Mission parameter must be
# declared by its Playbook, of the declared type, within minimum/maximum and in enum when given.
package grace

param_specs := {p.name: p | some p in object.get(input, ["playbook", "parameters"], [])}

mission_params := object.get(input, ["mission", "parameters"], {})

guard_reasons contains msg if {
	some name, _ in mission_params
	not param_specs[name]
	msg := sprintf("parameter %s is not declared by playbook %s: nothing outside its whitelist runs", [name, input.playbook.name])
}

guard_reasons contains msg if {
	some name, value in mission_params
	spec := param_specs[name]
	kind := object.get(spec, "type", "any")
	not type_ok(kind, value)
	msg := sprintf("parameter %s must be of type %s, got %s", [name, kind, type_name(value)])
}

guard_reasons contains msg if {
	some name, value in mission_params
	minimum := object.get(param_specs[name], "minimum", null)
	is_number(value)
	is_number(minimum)
	value < minimum
	msg := sprintf("parameter %s=%v is below its minimum %v", [name, value, minimum])
}

guard_reasons contains msg if {
	some name, value in mission_params
	maximum := object.get(param_specs[name], "maximum", null)
	is_number(value)
	is_number(maximum)
	value > maximum
	msg := sprintf("parameter %s=%v is above its maximum %v", [name, value, maximum])
}

guard_reasons contains msg if {
	some name, value in mission_params
	allowed := object.get(param_specs[name], "enum", null)
	is_array(allowed)
	count(allowed) > 0
	not value in allowed

	# concat, not sprintf: rego-cpp 1.5 quotes a concat result that is passed to sprintf.
	shown := concat(", ", [show(a) | some a in allowed])
	msg := concat("", ["parameter ", name, "=", show(value), " is not one of ", shown])
}

type_ok("any", _)

type_ok("integer", value) if {
	is_number(value)
	round(value) == value
}

type_ok("number", value) if is_number(value)

type_ok("string", value) if is_string(value)

type_ok("boolean", value) if is_boolean(value)

# Render scalars as themselves and anything else by its type, so messages stay short and
# read the same in every engine.
show(value) := sprintf("%v", [value]) if {
	is_string(value)
} else := sprintf("%v", [value]) if {
	is_number(value)
} else := type_name(value)
