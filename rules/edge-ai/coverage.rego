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

# Kinds that hold data, never run it (a ConfigMap key named "image" is text), and API groups whose
# objects name images without running them (Kyverno's patterns, Flux's image scanning).
eg_inert_kinds := {"ConfigMap", "Secret"}

eg_inert_groups := {"kyverno.io", "image.toolkit.fluxcd.io"}

eg_inert if input.kind in eg_inert_kinds

eg_inert if {
	is_string(input.apiVersion)
	split(input.apiVersion, "/")[0] in eg_inert_groups
}

# Where the other rules look for containers: the pod spec's containers and initContainers.
eg_checked_at(pointer) if {
	eg_is_pod_workload
	some list in ["containers", "initContainers"]
	startswith(pointer, concat("", [eg_pod_prefix, "/", list, "/"]))
}

# JSON pointers of the objects with an image (a container, however it is written) that no other
# rule reads, in a Kubernetes object (one with a kind): anywhere in a kind the pack does not
# check, and outside the pod spec's container lists in one it does (a Volcano `Job` of another
# API group keeps its containers in spec.tasks). Metadata (labels, annotations) is not searched.
eg_unchecked_images contains pointer if {
	is_string(input.kind)
	not eg_inert
	not eg_is_edge_ai
	not eg_has_items
	walk(input, [eg_at, eg_node])
	count(eg_at) > 0
	eg_at[0] != "metadata"
	is_object(eg_node)
	is_string(eg_node.image)
	pointer := concat("", [concat("", ["/", eg_pointer_token(t)]) | some t in eg_at])
	not eg_checked_at(pointer)
}

deny contains result if {
	some pointer in eg_unchecked_images
	result := eg_result(
		"EGP012", "high", eg_coverage_title,
		concat("", [
			eg_workload, ": runs the image at ", pointer, " where the edge-AI pack does not check it;",
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
