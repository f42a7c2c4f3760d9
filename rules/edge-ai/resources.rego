# Resource requests and limits (EGP005): every container (and init container) sets requests and
# limits for cpu and memory as valid Kubernetes quantities; an EdgeAIDeployment sets
# spec.resourceLimits.cpu and .memory.
package main

import rego.v1

eg_resource_fields := ["requests.cpu", "requests.memory", "limits.cpu", "limits.memory"]

eg_resource_value(c, field) := value if {
	parts := split(field, ".")
	section := parts[0]
	name := parts[1]
	value := c.resources[section][name]
	value != null
}

deny contains result if {
	some entry in eg_containers
	container := entry.container
	missing := [field | some field in eg_resource_fields; not eg_resource_value(container, field)]
	count(missing) > 0
	result := eg_result(
		"EGP005", "medium", "Resource requests and limits",
		concat("", [
			eg_workload, ": ", entry.label, " has no resources.", concat(", resources.", missing),
			"; set requests and limits for cpu and memory",
		]),
		eg_resources_pointer(entry),
	)
}

deny contains result if {
	some entry in eg_containers
	some field in eg_resource_fields
	value := eg_resource_value(entry.container, field)
	not eg_valid_quantity(value)
	result := eg_result(
		"EGP005", "medium", "Resource requests and limits",
		concat("", [
			eg_workload, ": ", entry.label, " resources.", field, " ", eg_show(value),
			" is not a valid Kubernetes quantity",
		]),
		concat("", [entry.path, "/resources/", replace(field, ".", "/")]),
	)
}

eg_resources_pointer(entry) := concat("", [entry.path, "/resources"]) if {
	is_object(entry.container.resources)
} else := entry.path

# A value for a message: a string in quotes, a number or boolean as is, anything else by its
# type (regopy's json.marshal is undefined for input arrays of numbers).
eg_show(value) := concat("", ["'", value, "'"]) if {
	is_string(value)
} else := sprintf("%v", [value]) if {
	is_number(value)
} else := "true" if {
	value == true
} else := "false" if {
	value == false
} else := concat("", ["(", type_name(value), ")"])

# EdgeAIDeployment: spec.resourceLimits.cpu and .memory.
eg_edge_resources := ["cpu", "memory"]

deny contains result if {
	eg_is_edge_ai
	missing := [name | some name in eg_edge_resources; not eg_edge_limit(name)]
	count(missing) > 0
	result := eg_result(
		"EGP005", "medium", "Resource requests and limits",
		concat("", [
			eg_workload, ": spec.resourceLimits has no ", concat(", ", missing),
			"; set cpu and memory limits",
		]),
		eg_edge_limits_pointer,
	)
}

deny contains result if {
	eg_is_edge_ai
	some name in eg_edge_resources
	value := eg_edge_limit(name)
	not eg_valid_quantity(value)
	result := eg_result(
		"EGP005", "medium", "Resource requests and limits",
		concat("", [
			eg_workload, ": spec.resourceLimits.", name, " ", eg_show(value),
			" is not a valid Kubernetes quantity",
		]),
		concat("", ["/spec/resourceLimits/", name]),
	)
}

eg_edge_limit(name) := value if {
	value := input.spec.resourceLimits[name]
	value != null
}

eg_edge_limits_pointer := "/spec/resourceLimits" if {
	is_object(input.spec.resourceLimits)
} else := "/spec" if {
	is_object(input.spec)
} else := ""
