/** Bad or hostile layer content: one line for the user, and the layer is not stored. */
export class LayerError extends Error {}
