/* high.h -- the top layer of the fixture. */
#ifndef HIGH_H
#define HIGH_H
#include "lib/low.h"
int high_twice(int a);
#endif
