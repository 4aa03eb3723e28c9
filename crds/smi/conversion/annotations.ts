// Annotation keys the conversion webhook writes. Together they make every round trip between versions
// exact: each holds, as JSON, what one side of a conversion cannot represent.

export const CONVERSION_PREFIX = 'conversion.weft.dev';

/**
 * On an object read in an older version: the storage-version fields that version cannot show (TrafficSplit
 * `matches` seen through v1alpha1/v1alpha2, HTTPRouteGroup `headers` through v1alpha1, TCPRoute ports through
 * v1alpha1..v1alpha3). Written back in that version, they are restored.
 */
export const STORAGE_FIELDS_ANNOTATION = `${CONVERSION_PREFIX}/storage-fields`;

/**
 * On the stored object: how an older version wrote what the storage version normalises (v1alpha1 Quantity
 * weights such as "500m", TrafficTarget v1alpha1/v1alpha2 ports). Read in that version again, the original
 * spelling comes back, as long as the storage version still means the same thing.
 */
export const ORIGINAL_FIELDS_ANNOTATION = `${CONVERSION_PREFIX}/original-fields`;
