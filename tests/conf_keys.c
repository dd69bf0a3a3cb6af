/* placeholder, replaced by the docs work */
int main(void) { return 0; }
