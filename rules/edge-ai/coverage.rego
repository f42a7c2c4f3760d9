# What the pack cannot check is not a pass (EGP012). The rules read workloads of the kinds they
# know (Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, ReplicationController,
# CronJob, Knative Service, EdgeAIDeployment). An object of another kind that names a container
# image anywhere (an Argo Rollout or Workflow, a KServe InferenceService, a Knative
# Configuration, a PodTemplate, a Tekton Task...) would pass every rule unread, and so would the
# items of any object with an `items` array: kubectl applies the items of every such object (a
# List, a DeploymentList, even a Deployment that has `items`), while conftest, like this pack,
# sees one document. Each is a finding naming where it is.
package main

import rego.v1

eg_coverage_title := "Object not checked by the rule pack"

# (a rule, not `not is_array(input.items)`: OPA rewrites the argument out of the negation, so
# with no items at all that negation is undefined, not true)
eg_has_items if is_array(input.items)

# Kinds that hold data, never run it (a ConfigMap key named "image" is text).
eg_inert_kinds := {"ConfigMap", "Secret"}

# JSON pointers of the objects with an image (a container, however it is written) in a
# Kubernetes object (one with a kind) the pack does not check.
eg_unchecked_images contains pointer if {
	is_string(input.kind)
	not input.kind in eg_inert_kinds
	not eg_is_workload
	not eg_has_items
	walk(input, [eg_at, eg_node])
	is_object(eg_node)
	is_string(eg_node.image)
	pointer := concat("", [concat("", ["/", eg_pointer_token(t)]) | some t in eg_at])
}

deny contains result if {
	some pointer in eg_unchecked_images
	result := eg_result(
		"EGP012", "high", eg_coverage_title,
		concat("", [
			eg_workload, ": runs the image at ", pointer, " in a kind the edge-AI pack does not check;",
			" check it with rules of your own or render it as a kind the pack knows",
		]),
		pointer,
	)
}

deny contains result if {
	is_array(input.items)
	some i, item in input.items
	result := eg_result(
		"EGP012", "high", eg_coverage_title,
		concat("", [
			eg_show(object.get(input, "kind", "<no kind>")), ": item ", format_int(i, 10),
			" is applied by kubectl but not checked inside an items list; write the items as separate documents",
		]),
		concat("", ["/items/", format_int(i, 10)]),
	)
}
