package grace_test

params(p) := decide({"mission": {"parameters": p}})

test_parameters_inside_bounds_run if {
	params({"replicas": 1, "strategy": "recreate", "surge": 2.5, "drain": true, "note": {"any": 1}}).result == "allow"
	params({"replicas": 20}).result == "allow"
	params({"replicas": 4.0}).result == "allow"
}

test_undeclared_parameter_denies if {
	params({"command": "rm -rf /"}).reasons == ["parameter command is not declared by playbook scale-out: nothing outside its whitelist runs"]
}

test_below_minimum_denies if {
	params({"replicas": 0}).reasons == ["parameter replicas=0 is below its minimum 1"]
}

test_above_maximum_denies if {
	params({"surge": 2.75}).reasons == ["parameter surge=2.75 is above its maximum 2.5"]
}

test_wrong_types_deny if {
	params({"replicas": 2.5}).reasons == ["parameter replicas must be of type integer, got number"]
	params({"replicas": "5"}).reasons == ["parameter replicas must be of type integer, got string"]
	params({"drain": "yes"}).reasons == ["parameter drain must be of type boolean, got string"]
	params({"surge": false}).reasons == ["parameter surge must be of type number, got boolean"]
}

test_outside_enum_denies if {
	params({"strategy": "yolo"}).reasons == ["parameter strategy=yolo is not one of rolling, recreate"]
	params({"strategy": 3}).reasons == [
		"parameter strategy must be of type string, got number",
		"parameter strategy=3 is not one of rolling, recreate",
	]
	params({"strategy": ["rolling"]}).reasons == [
		"parameter strategy must be of type string, got array",
		"parameter strategy=array is not one of rolling, recreate",
	]
}
