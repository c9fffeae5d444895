package components

import "github.com/pulumi/pulumi/sdk/v3/go/pulumi"

// after returns v once every gate has resolved. The result carries the gates'
// resources as dependencies, so whatever consumes it waits for them too:
// this is how "GitLab's URL exists only once GitLab answers" is expressed as
// data rather than as a DependsOn on the consumer.
func after(v pulumi.StringInput, gates ...pulumi.Input) pulumi.StringOutput {
	all := append([]any{v}, toAny(gates)...)
	return pulumi.All(all...).ApplyT(func(vals []any) string { return vals[0].(string) }).(pulumi.StringOutput)
}

func toAny(in []pulumi.Input) []any {
	out := make([]any, len(in))
	for i, v := range in {
		out[i] = v
	}
	return out
}
