# Models on a deny list (EGP008): an EdgeAIDeployment may not deploy a model that
# data.edgegate.banned_models lists under its spec.aiAlignmentPolicyRef (or under "*", which
# applies to every EdgeAIDeployment).
#
# A deny-list entry matches spec.modelRef.name case-insensitively when the name equals it or
# starts with it followed by one of . - _ : @ /  ("facial-recognition-v3" also blocks
# "facial-recognition-v3.onnx" and "facial-recognition-v3-int8", not "facial-recognition-v30").
package main

import rego.v1

eg_model_separators := [".", "-", "_", ":", "@", "/"]

# The deny-list keys that apply to this EdgeAIDeployment.
eg_banned_keys contains key if {
	key := input.spec.aiAlignmentPolicyRef
	is_string(key)
	list := eg_banned_models[key]
	is_array(list)
}

eg_banned_keys contains "*" if {
	list := eg_banned_models["*"]
	is_array(list)
}

eg_model_matches(name, banned) if lower(name) == lower(banned)

eg_model_matches(name, banned) if {
	some sep in eg_model_separators
	startswith(lower(name), concat("", [lower(banned), sep]))
}

eg_banned_scope(key) := "for every EdgeAIDeployment (banned_models '*')" if {
	key == "*"
} else := concat("", ["under alignment policy '", key, "'"])

deny contains result if {
	eg_is_edge_ai
	name := input.spec.modelRef.name
	is_string(name)
	some key in eg_banned_keys
	some banned in eg_banned_models[key]
	is_string(banned)
	eg_model_matches(name, banned)
	result := eg_result(
		"EGP008", "critical", "Banned model",
		concat("", [
			eg_workload, ": model '", name, "' is prohibited ", eg_banned_scope(key),
			eg_banned_as(name, banned),
		]),
		"/spec/modelRef/name",
	)
}

eg_banned_as(name, banned) := "" if {
	lower(name) == lower(banned)
} else := concat("", [" (deny-list entry '", banned, "')"])

eg_model_named if is_string(input.spec.modelRef.name)

# Fail closed: a deny list applies but the deployment names no model.
deny contains result if {
	eg_is_edge_ai
	count(eg_banned_keys) > 0
	not eg_model_named
	result := eg_result(
		"EGP008", "critical", "Banned model",
		concat("", [eg_workload, ": spec.modelRef.name is missing; the model deny list cannot be checked"]),
		eg_existing_pointer(["spec", "modelRef", "name"]),
	)
}
