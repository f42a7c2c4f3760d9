# What the pack cannot check is not a pass (EGP012). The rules read workloads of the kinds they
# know (Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, ReplicationController,
# CronJob, Knative Service, EdgeAIDeployment). An object of another kind that runs containers (an
# Argo Rollout, a KServe InferenceService, a Knative Configuration, a PodTemplate...) and a
# Kubernetes List of objects (kubectl applies every item; conftest, like this pack, sees one
# document) would pass every rule unread: each is a finding naming where its containers are.
package main

import rego.v1

eg_coverage_title := "Object not checked by the rule pack"

eg_container_keys := {"containers", "initContainers", "ephemeralContainers"}

# JSON pointers of the container lists (a list holding an object with an image) in the spec of
# an object the pack does not check.
eg_unchecked_containers contains pointer if {
	not eg_is_workload
	is_string(input.kind)
	walk(input.spec, [path, value])
	count(path) > 0
	path[count(path) - 1] in eg_container_keys
	is_array(value)
	some c in value
	is_object(c)
	c.image
	pointer := concat("", ["/spec", concat("", [concat("", ["/", eg_pointer_token(t)]) | some t in path])])
}

deny contains result if {
	not endswith(input.kind, "List")
	some pointer in eg_unchecked_containers
	result := eg_result(
		"EGP012", "high", eg_coverage_title,
		concat("", [
			eg_workload, ": runs containers (", pointer, ") of a kind the edge-AI pack does not check;",
			" check it with rules of your own or render it as a kind the pack knows",
		]),
		pointer,
	)
}

deny contains result if {
	is_string(input.kind)
	endswith(input.kind, "List")
	is_array(input.items)
	some i, item in input.items
	is_object(item)
	item.kind
	result := eg_result(
		"EGP012", "high", eg_coverage_title,
		concat("", [
			input.kind, ": item ", format_int(i, 10), " (", eg_show(item.kind),
			") is not checked inside a List; write the items as separate documents",
		]),
		concat("", ["/items/", format_int(i, 10)]),
	)
}
