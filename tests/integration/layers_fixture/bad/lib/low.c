/* low.c -- the bottom layer, reaching up: an upward include (line 3) and
 * an upward call, which closes a circle with app/high.c. */
#include "app/high.h"
#include "lib/low.h"

int low_add(int a, int b)
{
    return a + b;
}

int low_quad(int a)
{
    return high_twice(a) * 2;
}
