// Command badptr is a test block (type test.badptr): it calls every
// function of module "blockhost" that takes a pointer with out-of-bounds
// pointer/length pairs and reports each returned status, in decimal, as an
// output; it then succeeds. A conforming host answers -6002 (BAD_POINTER)
// to every call and neither traps nor acts on it (an error_set or log with
// a bad pointer records nothing). Outputs:
//
//   - <fn>: every pointer pair of the call is (0xFFFFFFF0, 64), which
//     overflows 32 bits;
//   - <fn>.huge: every pointer pair is (0, 0xFFFFFFFF);
//   - <fn>.<param>: for calls with two pointer pairs, only the pair of
//     param (e.g. output_set.val) is (0xFFFFFFF0, 64), the other is valid.
//
// Handle arguments are fresh buffer_new handles, so a host that checked
// handles first would still see a valid one. handle_size, handle_close and
// buffer_new take no pointer and are not called. The calls are in
// badptr_wasip1.go; natively the package is empty.
package main

func main() {}
