# Knative Service scale bound (EGP011): the revision template sets
# autoscaling.knative.dev/maxScale (or its newer spelling max-scale) to a whole number between 1
# and data.edgegate.knative_max_scale (default 10). "0" means unbounded in Knative and fails.
package main

import rego.v1

eg_max_scale_keys := ["autoscaling.knative.dev/maxScale", "autoscaling.knative.dev/max-scale"]

eg_max_scale_title := "Knative maxScale bounded"

eg_max_scale_values contains [key, value] if {
	some key in eg_max_scale_keys
	value := input.spec.template.metadata.annotations[key]
}

deny contains result if {
	eg_is_knative_service
	count(eg_max_scale_values) == 0
	result := eg_result(
		"EGP011", "medium", eg_max_scale_title,
		concat("", [
			eg_workload, ": spec.template.metadata.annotations has no 'autoscaling.knative.dev/maxScale'; set it to at most ",
			eg_fmt(eg_knative_max_scale),
		]),
		eg_existing_pointer(["spec", "template", "metadata", "annotations", "autoscaling.knative.dev/maxScale"]),
	)
}

deny contains result if {
	eg_is_knative_service
	some pair in eg_max_scale_values
	key := pair[0]
	value := pair[1]
	problem := eg_max_scale_problem(value)
	result := eg_result(
		"EGP011", "medium", eg_max_scale_title,
		concat("", [eg_workload, ": '", key, "' is ", eg_show(value), ", ", problem]),
		eg_existing_pointer(["spec", "template", "metadata", "annotations", key]),
	)
}

eg_max_scale_problem(value) := "not a whole number" if {
	not eg_whole_number(value)
} else := concat("", ["which means unbounded scale; set it to at most ", eg_fmt(eg_knative_max_scale)]) if {
	to_number(value) == 0
} else := concat("", ["above the allowed maximum ", eg_fmt(eg_knative_max_scale)]) if {
	to_number(value) > eg_knative_max_scale
}

eg_whole_number(value) if {
	is_string(value)
	regex.match(`^[0-9]+$`, value)
}

eg_whole_number(value) if {
	is_number(value)
	value == floor(value)
	value >= 0
}
