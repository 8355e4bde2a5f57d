package org.timebank.neo4j;

import java.util.Optional;

import org.neo4j.configuration.Config;
import org.neo4j.gds.LicensingBusinessFacade;
import org.neo4j.gds.OpenGdsLicensingServiceBuilder;
import org.neo4j.gds.SysInfoProcFacade;
import org.neo4j.gds.applications.modelcatalog.ModelRepository;
import org.neo4j.gds.applications.operations.FeatureTogglesRepository;
import org.neo4j.gds.core.model.OpenModelCatalogProvider;
import org.neo4j.gds.core.write.NativeExportBuildersProvider;
import org.neo4j.gds.logging.Log;
import org.neo4j.gds.metrics.Metrics;
import org.neo4j.gds.procedures.integration.DefaultExportLocation;
import org.neo4j.gds.procedures.integration.LogAccessor;
import org.neo4j.gds.procedures.integration.OpenGraphDataScienceExtensionBuilder;
import org.neo4j.kernel.api.procedure.GlobalProcedures;
import org.neo4j.kernel.extension.ExtensionFactory;
import org.neo4j.kernel.extension.context.ExtensionContext;
import org.neo4j.kernel.lifecycle.Lifecycle;
import org.neo4j.logging.internal.LogService;

/**
 * Registers the open edition of Graph Data Science with the Neo4j server.
 *
 * <p>Why this class exists: the GDS procedures inject components that a kernel extension must
 * register: {@code GraphDataScienceProcedures} (every algorithm and catalogue procedure) and
 * {@code SysInfoProcFacade} ({@code gds.license.state}). The official plugin jar
 * ({@code open-gds-<version>.jar}) gets those registrations from GDS's packaging modules, which
 * are not published to Maven Central; every other module is. So we wire the published pieces
 * together here, choosing the OpenGDS edition everywhere: open licensing, native writes only,
 * metrics off, the in-memory open model catalogue, and no model storage.
 *
 * <p>The extension name is {@code gds.open}, as in the official plugin.
 */
public final class OpenGdsExtension extends ExtensionFactory<OpenGdsExtension.Dependencies> {

    /** What the Neo4j kernel hands the extension. */
    public interface Dependencies {
        Config config();

        GlobalProcedures globalProcedures();

        LogService logService();
    }

    public OpenGdsExtension() {
        super("gds.open");
    }

    @Override
    public Lifecycle newInstance(ExtensionContext context, Dependencies dependencies) {
        Log log = new LogAccessor().getLog(dependencies.logService(), getClass());
        Config config = dependencies.config();
        GlobalProcedures procedures = dependencies.globalProcedures();

        var licensing = new LicensingBusinessFacade(new OpenGdsLicensingServiceBuilder().build(config));
        var sysInfo = new SysInfoProcFacade(licensing);
        procedures.registerComponent(SysInfoProcFacade.class, procedureContext -> sysInfo, true);

        // OpenGDS cannot persist models; refuse loudly rather than pretend.
        ModelRepository noModelStorage = model -> {
            throw new UnsupportedOperationException("Storing models needs GDS Enterprise");
        };

        var built = OpenGraphDataScienceExtensionBuilder.create(
                log,
                procedures,
                config,
                (database, configuration) -> new NativeExportBuildersProvider(),
                new DefaultExportLocation(log, config),
                new FeatureTogglesRepository(),
                Metrics.DISABLED,
                new OpenModelCatalogProvider().get().orElseThrow(),
                noModelStorage,
                Optional.empty(),
                Optional.empty(),
                Optional.empty());
        return built.getLeft().build();
    }
}
