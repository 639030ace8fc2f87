package brook.registry;

import io.apicurio.common.apps.config.DynamicConfigPropertyList;
import java.util.ArrayList;
import javax.enterprise.inject.Produces;
import javax.inject.Singleton;

/**
 * Stands in for the bean that Apicurio's "config-index" Quarkus extension builds at
 * build time (its -deployment artifact is not on Maven Central). An empty list only
 * means that no property can be changed at run time through the admin API.
 */
public class DynamicConfigPropertyListProducer {
    @Produces
    @Singleton
    DynamicConfigPropertyList dynamicConfigPropertyList() {
        return new DynamicConfigPropertyList(new ArrayList<>());
    }
}
