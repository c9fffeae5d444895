package gitlabwait

import (
	"reflect"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// The SDK's struct marshaller sees only an Args struct's top-level fields,
// so the inputs every resource shares could not be one embedded struct
// (Access). inputs flattens an Args into the property map RegisterResource
// also takes, each property named once, by its field's pulumi tag.

// inputs is args as properties: every set input under its field's pulumi
// tag, embedded fields included; unset ones are left out, as the struct
// marshaller leaves out nil inputs.
func inputs(args any) pulumi.Map {
	v := reflect.Indirect(reflect.ValueOf(args))
	m := pulumi.Map{}
	for _, f := range reflect.VisibleFields(v.Type()) {
		name, _, _ := strings.Cut(f.Tag.Get("pulumi"), ",")
		if f.Anonymous || name == "" {
			continue
		}
		if in, ok := v.FieldByIndex(f.Index).Interface().(pulumi.Input); ok && in != nil {
			m[name] = in
		}
	}
	return m
}

// register registers a resource R of type typ with args.
func register[R any, PR interface {
	*R
	pulumi.CustomResource
}](ctx *pulumi.Context, typ, name string, args pulumi.Input, opts []pulumi.ResourceOption) (*R, error) {
	res := PR(new(R))
	if err := ctx.RegisterResource(typ, name, args, res, opts...); err != nil {
		return nil, err
	}
	return res, nil
}
