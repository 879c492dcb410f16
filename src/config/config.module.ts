import { DynamicModule, Global, Module } from '@nestjs/common';
import { ParleyEnv } from './config.schema';
import { ConfigService } from './config.service';

@Global()
@Module({})
export class ConfigModule {
  static forRoot(env: ParleyEnv): DynamicModule {
    return {
      module: ConfigModule,
      providers: [{ provide: ConfigService, useValue: new ConfigService(env) }],
      exports: [ConfigService],
    };
  }
}
