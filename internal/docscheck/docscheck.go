// Package docscheck holds the tests that keep README.md and docs/ true to the code: the
// intervals they state, the links they make and the fields of the bodies they describe.
// It has no code of its own beyond this comment.
package docscheck
