package gitlabwait

import (
	"fmt"
	"reflect"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// The SDK's marshaller reads an Args struct of inputs through the plain
// struct its ElementType returns, field by field, by name, taking the
// property name from that struct's pulumi tag; it sees only top-level
// fields, so the inputs both resources share cannot be one embedded struct.
// inputShape derives that plain struct from the Args instead, so that each
// property name is written once, in the Args' own tag.

// inputShape is args with each input replaced by its element type.
func inputShape(args reflect.Type) reflect.Type {
	fields := make([]reflect.StructField, args.NumField())
	for i := range fields {
		f := args.Field(i)
		elem, ok := elementTypes[f.Type]
		if !ok {
			panic(fmt.Sprintf("gitlabwait: %s.%s: no element type known for %s", args.Name(), f.Name, f.Type))
		}
		fields[i] = reflect.StructField{Name: f.Name, Type: elem, Tag: f.Tag}
	}
	return reflect.StructOf(fields)
}

// elementTypes are the plain types of the inputs the Args use.
var elementTypes = map[reflect.Type]reflect.Type{
	reflect.TypeFor[pulumi.StringInput]():    reflect.TypeFor[string](),
	reflect.TypeFor[pulumi.StringPtrInput](): reflect.TypeFor[*string](),
	reflect.TypeFor[pulumi.IntInput]():       reflect.TypeFor[int](),
	reflect.TypeFor[pulumi.IntPtrInput]():    reflect.TypeFor[*int](),
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
