/* stray.c -- a file the table forgot. */
int stray(void);
int stray(void)
{
    return 0;
}
