/* low.c -- the bottom layer: calls nothing of ours. */
#include "lib/low.h"

int low_add(int a, int b)
{
    return a + b;
}
