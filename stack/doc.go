// Package stack is the program: Deploy reads the configuration, wires the
// components together and exports the stack outputs. main.go runs it with
// pulumi.Run, and Automation API code runs the same function inline.
package stack
