/* high.c -- the top layer: includes and calls downwards only. */
#include "app/high.h"
#include "lib/low.h"

int high_twice(int a)
{
    return low_add(a, a);
}
