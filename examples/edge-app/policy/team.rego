# The team's own rule, beside the shipped pack: every workload says who owns it.
package main

import rego.v1

warn contains msg if {
	input.kind in {"Deployment", "StatefulSet", "DaemonSet"}
	not input.metadata.labels.team
	msg := sprintf("%s/%s has no 'team' label", [input.kind, input.metadata.name])
}
